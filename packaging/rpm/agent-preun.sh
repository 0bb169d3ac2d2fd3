# On removal ($1 = 0), not on upgrade: stop and disable the service first.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now netcap-agent.service >/dev/null 2>&1 || :
fi
