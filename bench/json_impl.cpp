// Boost.JSON in header-only mode, compiled once for both bench executables
// (no libboost_json.so at run time).
#include <boost/json/src.hpp>
