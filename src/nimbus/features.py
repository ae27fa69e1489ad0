"""The README's feature table, generated from the providers themselves so it stays true."""

from __future__ import annotations

from . import services
from .services.base import Provider


class _NoRuntime:
    """Providers are inspected, never run, while the table is generated."""


def implemented_operations(service: str) -> list[str]:
    cls = services.provider_class(service)
    if cls is None:
        return []
    provider: Provider = cls.__new__(cls)
    Provider.__init__(provider, _NoRuntime())  # type: ignore[arg-type]
    model = services.model(service)
    return sorted(provider.implemented(list(model.operation_names)))


def feature_table() -> str:
    rows = [
        "| service | protocol | implemented operations | answers 501 |",
        "|---|---|---|---|",
    ]
    for service in services.KNOWN:
        model = services.model(service)
        protocols = "/".join(model.metadata.get("protocols") or [model.metadata["protocol"]])
        done = implemented_operations(service)
        missing = len(model.operation_names) - len(done)
        listed = ", ".join(f"`{op}`" for op in done) if done else "—"
        rows.append(f"| {service} | {protocols} | {listed} | {missing} of {len(model.operation_names)} |")
    return "\n".join(rows)


def update_readme(path: str = "README.md") -> bool:
    """Rewrite the generated tables in the README; True when something changed."""
    import re
    from pathlib import Path

    from .config import settings_table

    readme = Path(path)
    text = original = readme.read_text()
    for name, table in (("settings", settings_table()), ("features", feature_table())):
        text = re.sub(
            f"<!-- {name}:start -->.*?<!-- {name}:end -->",
            lambda _m, name=name, table=table: f"<!-- {name}:start -->\n{table}\n<!-- {name}:end -->",
            text,
            flags=re.S,
        )
    readme.write_text(text)
    return text != original


if __name__ == "__main__":  # python -m nimbus.features: refresh the README's tables
    print("README updated" if update_readme() else "README already current")
