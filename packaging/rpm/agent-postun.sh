# After removal or upgrade: forget the old unit; after an upgrade restart a running agent so
# it runs the new binary (its streams end cleanly with a final statistics block).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart netcap-agent.service >/dev/null 2>&1 || :
    fi
fi
