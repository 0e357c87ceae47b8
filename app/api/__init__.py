"""HTTP interface: routers that translate requests into calls of the plain functions below them."""
