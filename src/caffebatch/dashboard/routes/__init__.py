"""The dashboard's pages, one router per resource."""
