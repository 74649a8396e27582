"""The command line: one module per command group (`audit`, `build`, `synth`, `evaluation`, `ingest`), each
handler parsing its arguments, calling one library function and rendering; `app` holds the parser, the shared
rendering helpers and the one error handler (`run_command`, shared with `python -m train`)."""

from finsynth.cli.app import add_debug_flag, build_parser, main, print_error, run_command, user_error_message

__all__ = ["add_debug_flag", "build_parser", "main", "print_error", "run_command", "user_error_message"]
