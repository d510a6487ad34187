"""Imported first by child processes of a program run under ``ember.compat`` (the spawn
command line and the forkserver preload name it): installs the hook there too."""
from ember.compat import install

install()
