"""The one exception type bad input raises, so every front end can print it as a single line."""


class InputError(Exception):
    """A problem with something the user handed us (a file, a camera, a folder).

    The message is one line that names the input and says what is wrong with it; callers print
    it as is, without a traceback.
    """
