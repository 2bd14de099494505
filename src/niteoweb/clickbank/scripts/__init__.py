"""The console scripts ``clickbank-expire`` and ``clickbank-notify``."""
