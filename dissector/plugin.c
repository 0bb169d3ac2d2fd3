/*
 * plugin.c - the entry points Wireshark 4.0 looks up when it loads netcap.so.
 *
 * Wireshark's in-tree plugins get this file generated (make-plugin-reg.py), but the generator
 * and its CMake macros are not shipped in Debian's wireshark-dev, so it is written by hand.
 * 4.0 requires exactly these four symbols (wsutil/plugins.c): plugin_version,
 * plugin_want_major/minor (must equal the running Wireshark's 4.0; micro is not checked) and
 * plugin_register. Everything else in the module is hidden (-fvisibility=hidden).
 */
#include <gmodule.h>

#include <epan/proto.h>
#include <ws_symbol_export.h>
#include <ws_version.h>

#include "packet-k8s.h"

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = PLUGIN_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);

void plugin_register(void)
{
    static proto_plugin plug;

    plug.register_protoinfo = proto_register_k8s;
    plug.register_handoff = proto_reg_handoff_k8s;
    proto_register_plugin(&plug);
}
