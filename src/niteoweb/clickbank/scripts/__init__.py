"""The console scripts of niteoweb.clickbank."""
