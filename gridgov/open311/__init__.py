"""Open311 GeoReport v2: services, service requests and tokens, in JSON and XML."""
