# Installed, not started (as with the .deb): fill in /etc/default/netcap-agent, then
# `systemctl enable --now netcap-agent`. Tell systemd about the new unit.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
