"""The welcome mail: its text, its set-password link, its way to the MailHost."""
