"""Browser views of niteoweb.clickbank."""
