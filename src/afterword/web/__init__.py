"""The HTTP API and pages (FastAPI). A thin shell over afterword.engine."""
