"""gridgov: grid-based community governance GIS service (网格化管理)."""
