"""Blotter's benchmark: the same questions to Blotter, to the raw engines and to Datasette."""
