// The one translation unit that compiles Asio (BOOST_ASIO_SEPARATE_COMPILATION)
// and Boost.JSON (header-only mode: no libboost_json.so at run time, and
// Debian's static Boost archives are not PIC).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
