"""PyInstaller entry point for the one-file `ironpost` executable."""

from ironpost.cli import main

if __name__ == "__main__":
    main()
