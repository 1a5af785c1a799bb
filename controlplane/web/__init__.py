"""HTTP layer: handlers, middleware and the OpenAPI document; the only place aiohttp is used."""
