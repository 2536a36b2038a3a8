// Boost.JSON compiled once for the fuzz targets (header-only mode, as
// cpp/src/boost_impl.cpp does for the main build).
#include <boost/json/src.hpp>
