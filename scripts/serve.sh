#!/usr/bin/env bash
# Serve the instance in the foreground, with a local SMTP sink for its mail.
# The site's MailHost queues its mail in INSTANCE/var/mailqueue (create_site.py)
# and Zope's queue thread delivers it to the sink, as in production.
#   scripts/serve.sh [--banner-only] [INSTANCE]
# --banner-only prints the URLs and exits (the tests read them from there).
set -euo pipefail
banner_only=
if [ "${1:-}" = "--banner-only" ]; then banner_only=1; shift; fi
instance=${1:-instance}
bin=.venv/bin
# Plone leaves the host name 127.0.0.1 unthemed: name a local server localhost.
case ${HOST:-127.0.0.1} in
  127.0.0.1 | 0.0.0.0 | ::1 | ::) name=localhost ;;
  *) name=$HOST ;;
esac
url="http://$name:${PORT:-8080}/${SITE_ID:-Plone}"
cat <<MSG

  Site:         $url
  Log in:       ${ADMIN_USER:-admin} / ${ADMIN_PASSWORD:-admin}   (change with ADMIN_USER / ADMIN_PASSWORD)
  Settings:     $url/@@clickbank-controlpanel
  Webhook URL:  $url/@@clickbank   ← paste this into ClickBank (Instant Notification URL, v6.0+)
  Mail:         queued in $instance/var/mailqueue/, sent to SMTP ${SMTP_HOST:-127.0.0.1}:${SMTP_PORT:-8025}, saved in $instance/var/mail/

MSG
[ -z "$banner_only" ] || exit 0
mkdir -p "$instance/var/mail"
$bin/python scripts/mailsink.py "$instance/var/mail" &
sink=$!
# Background jobs ignore Ctrl-C: stop the sink when the server stops.
trap 'kill $sink 2>/dev/null || true' EXIT INT TERM
$bin/runwsgi -v "$instance/etc/zope.ini"
