#include "plugin_logging.h"

#include "plugin_fields.h"

#include <cstdio>
#include <exception>

namespace wno
{
namespace trt
{

void logMessage(nvinfer1::ILogger::Severity severity, char const* where, char const* message) noexcept
{
    try
    {
        std::string const line
            = std::string(kPluginName) + " " + (where ? where : "") + ": " + (message ? message : "");
        nvinfer1::ILogger* logger = ::getLogger();
        if (logger != nullptr)
        {
            logger->log(severity, line.c_str());
        }
        else if (severity <= nvinfer1::ILogger::Severity::kWARNING)
        {
            std::fprintf(stderr, "%s\n", line.c_str());
        }
    }
    catch (...)
    {
        // Out of memory while formatting a message: nothing sensible is left to report.
    }
}

int32_t reportError(char const* where, char const* message) noexcept
{
    logMessage(nvinfer1::ILogger::Severity::kERROR, where, message);
    return -1;
}

int32_t reportException(char const* where) noexcept
{
    try
    {
        throw;
    }
    catch (std::exception const& e)
    {
        return reportError(where, e.what());
    }
    catch (...)
    {
        return reportError(where, "unknown exception");
    }
}

} // namespace trt
} // namespace wno
