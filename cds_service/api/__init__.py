"""The HTTP service: the app factory, its routes and middleware (limits, headers, errors, draining), serving."""
