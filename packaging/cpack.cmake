# Packages (make package): CPack, because the install rules already say where every file goes and
# one description makes both the .deb and the .rpm; a debian/ tree plus a spec file would restate
# them twice. Two packages, one per install component:
#   netcap-wireshark  extcap, plugin and the Kubernetes profile, for Wireshark 4.0 exactly (the
#                     plugin ABI is per Wireshark minor version)
#   netcap-agent      the agent, its systemd unit and /etc/default/netcap-agent, for hosts outside
#                     Kubernetes (in a cluster: the container image and packaging/kubernetes)
# Configure with -DCMAKE_INSTALL_PREFIX=/usr so the files land where Wireshark looks.
set(CPACK_PACKAGE_NAME netcap)
set(CPACK_PACKAGE_VENDOR "netcap")
set(CPACK_PACKAGE_CONTACT "netcap maintainers <netcap@example.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Kubernetes pod capture for Wireshark")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_COMPONENTS_ALL wireshark agent)
set(CPACK_STRIP_FILES ON)

# ---- Debian
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.org/netcap")
set(CPACK_DEBIAN_WIRESHARK_PACKAGE_NAME netcap-wireshark)
set(CPACK_DEBIAN_WIRESHARK_PACKAGE_DEPENDS "libwireshark16 (>= 4.0.0), libwireshark16 (<< 4.1)")
set(CPACK_DEBIAN_WIRESHARK_PACKAGE_RECOMMENDS "wireshark | tshark")
set(CPACK_DEBIAN_WIRESHARK_DESCRIPTION "Kubernetes pod capture for Wireshark (extcap, plugin, profile)
A Wireshark extcap that captures a pod's traffic through the netcap agent on
its node, the dissector plugin that shows the Kubernetes metadata of each
packet (k8s.pod, k8s.namespace, k8s.peer.*, ...), and the Kubernetes
configuration profile.")
set(CPACK_COMPONENT_WIRESHARK_DESCRIPTION "${CPACK_DEBIAN_WIRESHARK_DESCRIPTION}")
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME netcap-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_SECTION net)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "netcap node agent: Kubernetes pod capture over HTTPS
Captures a pod's traffic inside its network namespace with libpcap and an
in-kernel BPF filter, adds Kubernetes metadata to every packet and streams
pcapng over HTTPS to netcap-extcap. This package runs it with systemd on
hosts outside Kubernetes.")
set(CPACK_COMPONENT_AGENT_DESCRIPTION "${CPACK_DEBIAN_AGENT_DESCRIPTION}")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_LIST_DIR}/deb/agent/conffiles;${CMAKE_CURRENT_LIST_DIR}/deb/agent/postinst;${CMAKE_CURRENT_LIST_DIR}/deb/agent/prerm;${CMAKE_CURRENT_LIST_DIR}/deb/agent/postrm")

# ---- RPM
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "GPL-2.0-or-later")
set(CPACK_RPM_PACKAGE_GROUP "Applications/Internet")
set(CPACK_RPM_PACKAGE_URL "https://example.org/netcap")
set(CPACK_RPM_WIRESHARK_PACKAGE_NAME netcap-wireshark)
set(CPACK_RPM_WIRESHARK_PACKAGE_REQUIRES "wireshark-cli >= 4.0, wireshark-cli < 4.1")
set(CPACK_RPM_AGENT_PACKAGE_NAME netcap-agent)
set(CPACK_RPM_AGENT_USER_FILELIST "%config(noreplace) /etc/default/netcap-agent")
set(CPACK_RPM_AGENT_PACKAGE_REQUIRES_POST "systemd")
set(CPACK_RPM_AGENT_POST_INSTALL_SCRIPT_FILE ${CMAKE_CURRENT_LIST_DIR}/rpm/agent-post.sh)
set(CPACK_RPM_AGENT_PRE_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_LIST_DIR}/rpm/agent-preun.sh)
set(CPACK_RPM_AGENT_POST_UNINSTALL_SCRIPT_FILE ${CMAKE_CURRENT_LIST_DIR}/rpm/agent-postun.sh)
set(CPACK_PACKAGE_RELOCATABLE OFF)  # Wireshark looks in fixed places
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc /etc/default /usr/sbin /usr/lib/systemd /usr/lib/systemd/system /usr/share/wireshark
    /usr/share/wireshark/profiles /usr/lib64/wireshark /usr/lib64/wireshark/extcap
    /usr/lib64/wireshark/plugins /usr/lib64/wireshark/plugins/4.0
    /usr/lib64/wireshark/plugins/4.0/epan /usr/share/man /usr/share/man/man8)

# ---- what each package holds beyond the targets' own install rules
install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/netcap-agent.service
        DESTINATION lib/systemd/system COMPONENT agent)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/netcap-agent.default
        DESTINATION /etc/default RENAME netcap-agent COMPONENT agent)
# man pages are installed compressed (Debian policy 12.1; rpmbuild would compress them anyway)
set(man8 ${CMAKE_BINARY_DIR}/packaging/man/netcap-agent.8)
configure_file(${CMAKE_CURRENT_LIST_DIR}/man/netcap-agent.8 ${man8} COPYONLY)
execute_process(COMMAND gzip -n -9 -f -k ${man8})
install(FILES ${man8}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT agent)
foreach(c wireshark agent)
  set(pkg netcap-${c})
  set(chlog ${CMAKE_BINARY_DIR}/packaging/${pkg}/changelog.gz)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/packaging/${pkg})
  configure_file(${CMAKE_CURRENT_LIST_DIR}/deb/changelog.in ${CMAKE_BINARY_DIR}/packaging/${pkg}/changelog @ONLY)
  execute_process(COMMAND gzip -n -9 -f -k ${CMAKE_BINARY_DIR}/packaging/${pkg}/changelog)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/deb/copyright ${chlog} ${PROJECT_SOURCE_DIR}/README.md
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${pkg} COMPONENT ${c})
endforeach()

include(CPack)
