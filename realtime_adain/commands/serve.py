"""`realtime-adain serve`: a browser's camera stylized over WebRTC, with the live window's controls."""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import stat
from pathlib import Path

from realtime_adain import library_signals
from realtime_adain.commands import argtypes, common
from realtime_adain.errors import UserError
from realtime_adain.serve.settings import DEFAULT_UPLOAD_MB, MAX_CLIENTS, MAX_UPLOAD_MB, MIN_IDLE_TIMEOUT
from realtime_adain.settings import LIVE_SIZE_TEXT, MAX_RESOLUTION

MISSING_EXTRA = 'serve needs aiohttp and aiortc: pip install "realtime-adain[serve]"'
TOKEN_ENV_VAR = "REALTIME_ADAIN_SERVE_TOKEN"  # the token without a --token other users could read in `ps`

EPILOG = """examples:
  # http://127.0.0.1:8080/ on this machine only:
  realtime-adain serve --styles styles/
  # the LAN: an access token is generated and printed:
  realtime-adain serve --styles styles/ --host 0.0.0.0
  realtime-adain serve --styles a.jpg b.jpg --port 0 --allow-uploads
  # behind an https proxy on this machine:
  realtime-adain serve --styles styles/ --allow-host stylize.example.com

Listening on anything but loopback needs an access token (--token, --token-file,
$REALTIME_ADAIN_SERVE_TOKEN, or one is generated); the printed URL carries it.
Other users of this machine can read a --token in `ps`: give it in a file or the
environment instead. Browsers give a page the camera only on https:// or on
localhost: for other machines, serve https (--tls-cert/--tls-key) or put a TLS
proxy in front.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a web page that stylizes the browser's camera over WebRTC",
        description="Stylize browsers' cameras in real time over WebRTC (aiohttp + aiortc);\none shared model.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = parser.add_argument_group("network and access")
    net.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1; any other needs an access token)")
    net.add_argument("--port", type=argtypes.int_between(0, 65535, "port"), default=8080,
                     help="port, 0 to 65535 (default 8080; 0: a free one)")
    token = net.add_mutually_exclusive_group()
    token.add_argument("--token", help=f"access token every /api request must carry (default: ${TOKEN_ENV_VAR}, else "
                                       "generated when --host is not loopback, else none); other users can read it "
                                       "in `ps`: prefer --token-file or the environment")
    token.add_argument("--token-file", metavar="PATH", help="read the access token from this file (its one line)")
    net.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                     help="also answer requests whose Host header names NAME (repeatable): the public name of a "
                          "reverse proxy in front; needs a token, as off loopback")
    net.add_argument("--max-clients", type=argtypes.int_between(1, MAX_CLIENTS, "max_clients"), default=4, metavar="N",
                     help=f"most clients at once, 1 to {MAX_CLIENTS} (default 4); more are refused with 429")
    # (one range in one message: `argtypes.seconds` said "(0, 86400]", then the settings refused 0.5)
    net.add_argument("--idle-timeout", type=argtypes.seconds_from(MIN_IDLE_TIMEOUT, "idle_seconds"), default=60.0, metavar="S",
                     help="close a client that sent no frame or message for S seconds (default 60; at least 1, at most a day, 86400)")
    net.add_argument("--tls-cert", metavar="PEM", help="serve https with this certificate (browsers give a page the "
                                                       "camera only on https or localhost); needs --tls-key")
    net.add_argument("--tls-key", metavar="PEM", help="the certificate's private key (PEM, not encrypted)")
    net.add_argument("--allow-uploads", action="store_true", help="let clients upload style images (off by default)")
    net.add_argument("--max-upload-mb", type=argtypes.positive_up_to(MAX_UPLOAD_MB, "max_upload_mb"), metavar="MB",
                     help=f"largest style upload in MiB, above 0 and at most {MAX_UPLOAD_MB} (default {DEFAULT_UPLOAD_MB:g}); "
                          "needs --allow-uploads")

    common.add_library_options(parser, "style images and/or directories of them (the page shows them as thumbnails)")

    frames = parser.add_argument_group("frames and temporal stability")
    frames.add_argument("--max-resolution", type=argtypes.camera_resolution,
                        default=MAX_RESOLUTION, metavar="WxH",
                        help="incoming frames larger than this are scaled down first, and a client sending more than 4 "
                             "times its pixels is closed before they are decoded; at most %dx%d either way up "
                             "(default %dx%d)" % (*MAX_RESOLUTION, *MAX_RESOLUTION))
    common.add_stabilize_options(frames, "each client's stabiliser mode at the start (default flow; stats needs the eager engine)")

    common.add_model_options(parser, default_size=None, size_default_text=LIVE_SIZE_TEXT)
    parser.set_defaults(func=run, loads_torch=True)  # (once the options it can are checked: `serve_settings`)


def serve_settings(args: argparse.Namespace):
    """The options as checked `ServeSettings`; off loopback without --token, a generated token.
    Those that need no library are checked first, before torch is loaded (`library_signals.load_torch`:
    the model's options need it), aiohttp and aiortc too (`check_extra`): a short --token, a --host
    0 or a missing --token-file were refused only after 11 s of imports (a minute on a busy machine)."""
    from realtime_adain.serve.settings import ServeSettings, check_access

    for option, value in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if value == "":
            raise UserError(f"{option} is empty: give the PEM file's path")
    if args.max_upload_mb is not None and not args.allow_uploads:  # (it was ignored without a word)
        raise UserError("--max-upload-mb limits style uploads, which are off: give --allow-uploads too, or leave "
                        "--max-upload-mb out")
    token = given_token(args)
    check_access(args.host, tuple(args.allow_host), token)
    check_extra()
    library_signals.load_torch()
    settings = ServeSettings(
        styles=tuple(args.styles), model=common.model_settings(args), host=args.host, port=args.port, token=token,
        max_clients=args.max_clients, idle_timeout=args.idle_timeout, allow_uploads=args.allow_uploads,
        max_upload_mb=args.max_upload_mb or DEFAULT_UPLOAD_MB, alpha=args.alpha, preserve_color=args.preserve_color,
        style_size=args.style_size, style_cache=common.style_cache_dir(args.style_cache), size=args.size,
        max_resolution=args.max_resolution, stabilize=args.stabilize, stabilize_strength=args.stabilize_strength,
        tls_cert=None if args.tls_cert is None else Path(args.tls_cert),
        tls_key=None if args.tls_key is None else Path(args.tls_key),
        allowed_hosts=tuple(args.allow_host),
    )
    settings.check()
    if settings.needs_token and settings.token is None:
        from dataclasses import replace

        settings = replace(settings, token=secrets.token_urlsafe(24))  # printed once listening
    return settings


def given_token(args: argparse.Namespace) -> str | None:
    """The token from --token, --token-file or $REALTIME_ADAIN_SERVE_TOKEN (empty: unset), checked; None if none."""
    from realtime_adain.serve.settings import check_token

    if args.token_file is not None:
        token, source = read_token_file(args.token_file), f"the token in --token-file {args.token_file}"
    elif args.token is None and os.environ.get(TOKEN_ENV_VAR):
        token, source = os.environ[TOKEN_ENV_VAR], f"${TOKEN_ENV_VAR}"
    else:
        return args.token  # (checked with the other settings)
    check_token(token, source)
    return token


def read_token_file(path: str) -> str:
    """The --token-file's one line (its newline dropped), from a regular file only (opening a fifo
    would wait for a writer, a device could be endless), read bounded."""
    from realtime_adain.serve.settings import MAX_TOKEN

    where = f"--token-file {path}"
    if not path:
        raise UserError("--token-file is empty: give the path of the file holding the token")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # (a fifo opens at once: refused below)
        with os.fdopen(descriptor, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device or a pipe)"
                raise UserError(f"{where}: {kind}; give the file holding the token")
            data = file.read(MAX_TOKEN + 3)  # (the longest token, \r\n, and one more: too long)
    except OSError as exc:
        raise UserError(f"{where}: {(exc.strerror or str(exc)).lower()}") from None
    text = data.decode("utf-8", "surrogateescape")  # (bytes that are no UTF-8: not ASCII, refused as such)
    token = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if "\n" in token:
        raise UserError(f"{where}: the file holds more than one line; put the token alone on its first line")
    if token.startswith("\ufeff"):
        raise UserError(f"{where}: the file starts with a byte-order mark (saved as UTF-8 with BOM); save it as plain text")
    if token != token.strip():
        raise UserError(f"{where}: the token has blank characters (spaces, tabs, a carriage return) at its start "
                        "or end; remove them")
    return token


def check_extra() -> None:
    """aiohttp and aiortc are the optional extra `serve`: without them, one line saying how to get them."""
    try:
        missing = [name for name in ("aiohttp", "aiortc") if importlib.util.find_spec(name) is None]
        if not missing:
            import aiohttp  # noqa: F401  (a broken install fails here, not mid-start)
            import aiortc  # noqa: F401
    except ImportError:
        missing = ["aiohttp/aiortc"]
    if missing:
        raise UserError(MISSING_EXTRA)


def run(args: argparse.Namespace) -> int:
    settings = serve_settings(args)  # (it loads torch: `loads_torch`)
    from realtime_adain.serve import process

    return process.run(settings)
