"""Sample paintings and the Tübingen photograph, shipped with the package (see data/README.md)."""
