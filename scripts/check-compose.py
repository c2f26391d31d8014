#!/usr/bin/env python3
"""Deployment hygiene check for docker-compose.yml and .env.example.

    python3 scripts/check-compose.py [COMPOSE_FILE] [--env-example FILE]
    python3 scripts/check-compose.py --self-test

Fails (exit 1, one line per problem) when

- a service publishes a port on a non-loopback address (all interfaces by
  default), unless that (service, container port) is in PUBLIC_PORTS: admin
  consoles, databases and caches must bind to 127.0.0.1 (or ::1);
- a service uses `network_mode: host` (publishes every port it opens);
- an image is unpinned: no tag, `:latest`, or a tag taken from a variable;
- a password or secret can fall back to a default: `${X:-...}` or `${X-...}`
  where X names a password or secret, anywhere in the file;
- an environment variable named like a password or secret is a literal, or
  can be empty (`${X}`, `$X`, `${X?...}`) instead of `${X:?message}`;
- the env example (default: .env.example beside the compose file) assigns a
  non-empty value to a variable named like a password or secret.

Exit 0 when all is well, 2 when a file cannot be read or PyYAML is missing.
Needs PyYAML (scripts/test.sh installs it in the tools venv).
"""

import ipaddress
import os
import sys

# (service, container port) pairs that may be published on every interface.
# The API is the one thing operators are meant to reach from outside.
PUBLIC_PORTS = {("api", 8000)}

# Names for the messages; any port not in PUBLIC_PORTS must be loopback-only.
KNOWN_PORTS = {
    9001: "MinIO console",
    9000: "MinIO S3 API (root credentials)",
    5432: "PostgreSQL",
    6379: "Redis",
    3306: "MySQL/MariaDB",
    15672: "RabbitMQ management",
}

SECRET_WORDS = ("PASSWORD", "SECRET")


def is_secret_name(name):
    upper = str(name).upper()
    return any(word in upper for word in SECRET_WORDS)


# --- compose variable interpolation -----------------------------------------


def interpolations(text):
    """Yields (name, operator, argument, raw) for each `${...}` or `$NAME`.

    `$$` is compose's escape for a literal `$` and is skipped. Operators are
    ":-", "-", ":?", "?", ":+", "+" or "" (plain reference).
    """
    i, n = 0, len(text)
    while i < n:
        if text[i] != "$":
            i += 1
            continue
        if i + 1 < n and text[i + 1] == "$":
            i += 2
            continue
        if i + 1 < n and text[i + 1] == "{":
            depth, j = 1, i + 2
            while j < n and depth:
                if text[j] == "{" and text[j - 1] == "$":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                j += 1
            body = text[i + 2 : j - 1] if depth == 0 else text[i + 2 :]
            k = 0
            while k < len(body) and (body[k].isalnum() or body[k] == "_"):
                k += 1
            name, rest = body[:k], body[k:]
            operator = ""
            for op in (":-", ":?", ":+", "-", "?", "+"):
                if rest.startswith(op):
                    operator = op
                    break
            yield name, operator, rest[len(operator) :], text[i:j]
            i = j
            continue
        k = i + 1
        while k < n and (text[k].isalnum() or text[k] == "_"):
            k += 1
        if k > i + 1:
            yield text[i + 1 : k], "", "", text[i:k]
        i = max(k, i + 1)


def substitute_defaults(text):
    """The text as compose would see it with no variable set: defaults are
    used, everything else becomes empty (conservative for bind addresses)."""
    out = text
    for _name, operator, argument, raw in interpolations(text):
        out = out.replace(raw, argument if operator in (":-", "-") else "", 1)
    return out


def walk_strings(node, path):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


# --- ports -------------------------------------------------------------------


def parse_port(entry):
    """Returns (host_ip, [container ports], text) for one `ports:` entry."""
    if isinstance(entry, dict):
        host_ip = substitute_defaults(str(entry.get("host_ip", "")))
        target = substitute_defaults(str(entry.get("target", "")))
        return host_ip, port_range(target), repr(entry)
    text = str(entry)
    spec = substitute_defaults(text).split("/", 1)[0]
    if spec.startswith("["):
        close = spec.find("]")
        host_ip = spec[1:close]
        parts = spec[close + 2 :].split(":")
        return host_ip, port_range(parts[-1]), text
    parts = spec.split(":")
    if len(parts) == 1:
        host_ip = ""
    elif len(parts) == 2:
        host_ip = ""
    elif len(parts) == 3:
        host_ip = parts[0]
    else:  # an unbracketed IPv6 address
        host_ip = ":".join(parts[:-2])
    return host_ip, port_range(parts[-1]), text


def port_range(text):
    first, _, last = text.partition("-")
    try:
        low = int(first)
        high = int(last) if last else low
    except ValueError:
        return []
    return list(range(low, high + 1))


def is_loopback(host_ip):
    if host_ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(host_ip).is_loopback
    except ValueError:
        return False


def describe(host_ip):
    if host_ip in ("", "0.0.0.0", "::"):
        return "all interfaces"
    return host_ip


# --- images ------------------------------------------------------------------


def image_problem(image):
    image = str(image)
    if "$" in image:
        return "takes its name or tag from a variable; pin it literally"
    if "@sha256:" in image:
        return None  # pinned by digest
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (means :latest); pin a release tag"
    tag = last.rsplit(":", 1)[1]
    if tag in ("", "latest"):
        return "uses :latest; pin a release tag"
    return None


# --- the checks --------------------------------------------------------------


def check_compose(doc, label):
    problems = []
    counts = {"services": 0, "images": 0, "ports": 0}
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        return [f"{label}: no `services:` mapping"], counts
    for service, spec in doc["services"].items():
        counts["services"] += 1
        spec = spec or {}
        where = f"{label}: service {service}"

        if "image" in spec:
            counts["images"] += 1
            problem = image_problem(spec["image"])
            if problem:
                problems.append(f"{where}: image {spec['image']} {problem}")

        if str(spec.get("network_mode", "")) == "host":
            problems.append(
                f"{where}: network_mode: host publishes every port it opens on all interfaces"
            )

        for entry in spec.get("ports") or []:
            counts["ports"] += 1
            host_ip, targets, text = parse_port(entry)
            if not targets:
                problems.append(f"{where}: cannot read port entry {text!r}")
                continue
            if is_loopback(host_ip):
                continue
            for target in targets:
                if (service, target) in PUBLIC_PORTS:
                    continue
                what = KNOWN_PORTS.get(target, "an admin or internal port")
                problems.append(
                    f"{where}: port {text!r} publishes {target} ({what}) on "
                    f"{describe(host_ip)}; bind it to 127.0.0.1 "
                    f'("127.0.0.1:{target}:{target}")'
                )

        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            pairs = []
            for item in environment:
                key, sep, value = str(item).partition("=")
                pairs.append((key, value if sep else None))
        else:
            pairs = list(environment.items())
        for key, value in pairs:
            if not is_secret_name(key) or value is None:
                # `KEY` alone (list form) or `KEY:` passes the shell's value
                # through: no default in the file.
                continue
            value = str(value)
            refs = list(interpolations(value))
            if not refs:
                problems.append(
                    f"{where}: {key} is hard-coded; use ${{{key}:?set {key} in .env}}"
                )
                continue
            for name, operator, _argument, raw in refs:
                if operator in (":-", "-"):
                    continue  # reported below for every string
                if operator != ":?":
                    problems.append(
                        f"{where}: {key}: {raw} may be empty; use ${{{name}:?set {name} in .env}}"
                    )

    for path, text in walk_strings(doc, label):
        for name, operator, argument, raw in interpolations(text):
            if operator in (":-", "-") and is_secret_name(name):
                shown = "(empty)" if argument == "" else repr(argument)
                problems.append(
                    f"{path}: {raw} gives {name} a default {shown}; "
                    f"use ${{{name}:?set {name} in .env}}"
                )
    return problems, counts


def check_env_example(text, label):
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export ") :].strip()
        value = value.strip().strip("'\"")
        if is_secret_name(key) and value:
            problems.append(
                f"{label}:{number}: {key} has a default value; leave it empty "
                f"(generate one with: openssl rand -hex 32)"
            )
    return problems


def load_yaml(text):
    try:
        import yaml
    except ImportError:
        print(
            "check-compose: PyYAML is not installed (pip install pyyaml)",
            file=sys.stderr,
        )
        sys.exit(2)
    return yaml.safe_load(text)


# --- self-test ---------------------------------------------------------------

GOOD = """
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it}
  minio:
    image: minio/minio:RELEASE.2025-09-07T16-13-09Z
    command: ["sh", "-c", "echo $$MINIO_ROOT_PASSWORD"]
    environment:
      - MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:?set it}
      - MINIO_ROOT_USER=${MINIO_ROOT_USER:?set it}
      - PASSED_THROUGH_SECRET
    ports:
      - "127.0.0.1:9001:9001"
      - "[::1]:9000:9000"
      - target: 9002
        published: 9002
        host_ip: 127.0.0.1
  api:
    build: .
    image: pybase-server@sha256:0123abcd
    environment:
      DATABASE_URL: postgres://u:${POSTGRES_PASSWORD:?set it}@db/x
      RUST_LOG: ${RUST_LOG:-info}
    ports:
      - "8000:8000"
"""

# Each case: a compose file that must fail, and a word its message must hold.
BAD = [
    ('services:\n  m:\n    image: minio/minio:latest\n', ":latest"),
    ("services:\n  m:\n    image: minio/minio\n", "no tag"),
    ("services:\n  m:\n    image: reg:5000/minio\n", "no tag"),
    ("services:\n  m:\n    image: minio/minio:${TAG:-x}\n", "variable"),
    ('services:\n  m:\n    image: a:1\n    ports: ["9001:9001"]\n', "MinIO console"),
    ('services:\n  m:\n    image: a:1\n    ports: ["9001"]\n', "all interfaces"),
    ('services:\n  m:\n    image: a:1\n    ports: ["0.0.0.0:5432:5432"]\n', "PostgreSQL"),
    ('services:\n  m:\n    image: a:1\n    ports: ["10.0.0.5:6379:6379"]\n', "10.0.0.5"),
    ('services:\n  m:\n    image: a:1\n    ports: ["${IP:-0.0.0.0}:9001:9001"]\n', "all interfaces"),
    ('services:\n  m:\n    image: a:1\n    ports: ["${IP}:9001:9001"]\n', "all interfaces"),
    ("services:\n  m:\n    image: a:1\n    ports:\n      - target: 9001\n        published: 9001\n", "all interfaces"),
    ('services:\n  m:\n    image: a:1\n    ports: ["::1:9000-9001:9000-9001", "9000-9001:9000-9001"]\n', "9001"),
    ("services:\n  m:\n    image: a:1\n    network_mode: host\n", "network_mode"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      X_PASSWORD: ${X_PASSWORD:-pw}\n", "default 'pw'"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      X_PASSWORD: ${X_PASSWORD-pw}\n", "default"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      X_SECRET: ${X_SECRET:-}\n", "(empty)"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      - S3_SECRET_KEY=${MINIO_ROOT_PASSWORD:-s}\n", "default"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      URL: pg://u:${DB_PASSWORD:-pw}@h/d\n", "default"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      X_PASSWORD: hunter2\n", "hard-coded"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      X_PASSWORD: ${X_PASSWORD}\n", "may be empty"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      X_PASSWORD: $X_PASSWORD\n", "may be empty"),
    ("services:\n  m:\n    image: a:1\n    environment:\n      X_PASSWORD: ${X_PASSWORD?unset}\n", "may be empty"),
    ('services:\n  m:\n    image: a:1\n    command: ["run", "--key", "${API_SECRET:-abc}"]\n', "default"),
]


def self_test():
    failures = []
    problems, _ = check_compose(load_yaml(GOOD), "good")
    if problems:
        failures.append(f"the good file failed: {problems}")
    for text, word in BAD:
        problems, _ = check_compose(load_yaml(text), "bad")
        if not any(word in p for p in problems):
            failures.append(f"expected a problem with {word!r} for:\n{text}got: {problems}")
    env_bad = "A=1\n# B_PASSWORD=commented\nC_PASSWORD=\nMINIO_ROOT_PASSWORD=pybase-minio-secret\n"
    env_problems = check_env_example(env_bad, ".env")
    if len(env_problems) != 1 or "MINIO_ROOT_PASSWORD" not in env_problems[0]:
        failures.append(f"env example check: {env_problems}")
    for failure in failures:
        print(f"self-test FAILED: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"check-compose self-test: 1 good file passed, {len(BAD) + 1} bad inputs failed as expected")
    return 0


# --- main --------------------------------------------------------------------


def main(argv):
    args = list(argv)
    if args == ["--self-test"]:
        return self_test()
    env_example = None
    if "--env-example" in args:
        index = args.index("--env-example")
        if index + 1 >= len(args):
            print("check-compose: --env-example needs a file", file=sys.stderr)
            return 2
        env_example = args[index + 1]
        del args[index : index + 2]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print(
            "usage: check-compose.py [COMPOSE_FILE] [--env-example FILE]\n"
            "       check-compose.py --self-test",
            file=sys.stderr,
        )
        return 2
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    compose = args[0] if args else os.path.join(root, "docker-compose.yml")
    if env_example is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(compose)), ".env.example")
        env_example = beside if os.path.exists(beside) else ""

    try:
        with open(compose, encoding="utf-8") as f:
            compose_text = f.read()
        env_text = ""
        if env_example:
            with open(env_example, encoding="utf-8") as f:
                env_text = f.read()
    except OSError as e:
        print(f"check-compose: {e}", file=sys.stderr)
        return 2

    problems, counts = check_compose(load_yaml(compose_text), compose)
    if env_example:
        problems += check_env_example(env_text, env_example)
    if problems:
        for problem in problems:
            print(f"FAIL {problem}", file=sys.stderr)
        print(f"check-compose: {len(problems)} problem(s) in {compose}"
              + (f" and {env_example}" if env_example else ""), file=sys.stderr)
        return 1
    print(
        f"check-compose: {compose} OK ({counts['services']} services, "
        f"{counts['images']} pinned images, {counts['ports']} published ports checked)"
        + (f"; {env_example} has no default secrets" if env_example else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
