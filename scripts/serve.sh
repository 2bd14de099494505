#!/usr/bin/env bash
# Serve the instance in the foreground, with a local SMTP sink for its mail.
set -euo pipefail
instance=${1:-instance}
bin=.venv/bin
mkdir -p "$instance/var/mail"
$bin/python scripts/mailsink.py "$instance/var/mail" &
sink=$!
# Background jobs ignore Ctrl-C: stop the sink when the server stops.
trap 'kill $sink 2>/dev/null || true' EXIT INT TERM
url="http://${HOST:-127.0.0.1}:${PORT:-8080}/${SITE_ID:-Plone}"
cat <<MSG

  Site:         $url
  Log in:       ${ADMIN_USER:-admin} / ${ADMIN_PASSWORD:-admin}   (change with ADMIN_USER / ADMIN_PASSWORD)
  Settings:     $url/@@clickbank-controlpanel
  Webhook URL:  $url/@@clickbank   ← paste this into ClickBank (Instant Notification URL, v6.0+)
  Mail:         sent to SMTP ${SMTP_HOST:-127.0.0.1}:${SMTP_PORT:-8025}, saved in $instance/var/mail/

MSG
$bin/runwsgi -v "$instance/etc/zope.ini"
