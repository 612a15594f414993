"""How our words reach a shell, Compose and Kubernetes: quoting, the dollars each format expands, YAML.

Everything that comes from user input is shell-quoted with :func:`shlex.quote` or
written by PyYAML, so a model path with spaces, quotes, ``$(...)`` or ``;`` stays one
argument and is never executed; a ``$`` is doubled where Compose or Kubernetes would
expand it.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml


class Expands(str):
    """A word of our own that the user's shell must expand (``$HOME``, ``$HEAD_IP``): double-quoted, not escaped.

    Never wrap user input in it: everything else goes through :func:`shlex.quote`.
    """



class Interpolated(str):
    """A value of our own that the file's format must expand: ``${HEAD_IP:?...}`` in Compose,
    ``$(LWS_LEADER_ADDRESS)`` in Kubernetes.  Every other ``$`` is written ``$$``, which both formats
    read as a literal dollar, so a model path or argument holding ``$`` reaches vLLM unchanged."""



COMPOSE_HEAD_IP = Interpolated("${HEAD_IP:?set HEAD_IP to the head node's address}")



LWS_LEADER = Interpolated("$(LWS_LEADER_ADDRESS)")



def literal_dollars(value: Any) -> Any:
    """Every string in ``value`` with ``$`` doubled, except :class:`Interpolated` ones."""
    if isinstance(value, Interpolated):
        return str(value)
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [literal_dollars(v) for v in value]
    if isinstance(value, dict):
        return {k: literal_dollars(v) for k, v in value.items()}
    return value



def multiline(words: list[str], head: int) -> str:
    """Shell words, the first ``head`` on one line, then one option (with its value) per line."""
    quoted = [f'"{w}"' if isinstance(w, Expands) else shlex.quote(w) for w in words]
    lines = [" ".join(quoted[:head])]
    i = head
    while i < len(quoted):
        takes_value = words[i].startswith("-") and "=" not in words[i]
        if takes_value and i + 1 < len(quoted) and not words[i + 1].startswith("-"):
            lines.append(f"{quoted[i]} {quoted[i + 1]}")
            i += 2
        else:
            lines.append(quoted[i])
            i += 1
    return " \\\n  ".join(lines)



class Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper without anchors: manifests stay plain for every reader."""

    def ignore_aliases(self, data: Any) -> bool:
        return True



def yaml_text(data: Any) -> str:
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=1 << 16, default_flow_style=False)



def pod_shell_word(word: str) -> str:
    """A word of a ``bash -c`` script in a pod spec: quoted for bash, ``$`` doubled for Kubernetes,
    whose own variable is kept (filled in by Kubernetes, then read literally by bash)."""
    if isinstance(word, Interpolated):
        return shlex.quote(word)
    return literal_dollars(f'"{word}"' if isinstance(word, Expands) else shlex.quote(word))
