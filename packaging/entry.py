"""PyInstaller entry point for the one-file `ironpost` executable.

main() looks at argv[0]: run through a symlink named ironpost-cli or ironpost-daemon, the binary
acts as `ironpost cli` or `ironpost daemon` (the seed's command names)."""

from ironpost.cli import main

if __name__ == "__main__":
    main()
