// Precompiled header of the core: the heavy Boost headers, parsed once.
#pragma once
#include <boost/asio.hpp>
#include <boost/json.hpp>
