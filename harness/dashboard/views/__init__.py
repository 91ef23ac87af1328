"""The dashboard's pages: Streamlit scripts that `app.py` navigates between (not for import:
each renders its page when executed)."""

__all__: list[str] = []
