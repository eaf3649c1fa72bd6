"""Rows written out as CSV below the edges: the serializer, a query's CSV body, and each
version's whole export kept on disk with its checksum, for the API and the pages alike."""
