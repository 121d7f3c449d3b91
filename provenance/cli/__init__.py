"""The ``provaudit`` command line: a root group that loads subcommands on demand."""
