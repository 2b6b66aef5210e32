"""A count with its noun, singular for one ("1 sample", "2 samples"), as messages say them."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
