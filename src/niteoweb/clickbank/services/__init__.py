"""REST API pieces of niteoweb.clickbank (for Volto and scripts)."""
