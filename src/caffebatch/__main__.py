"""`python -m caffebatch`: the `caffebatch` command, for where the script is not on PATH
(a Ray job's runtime_env, a container's entrypoint)."""

from caffebatch.cli import main

if __name__ == "__main__":
    main(prog_name="caffebatch")
