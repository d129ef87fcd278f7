from support.browser import browser, page, pages_stack

__all__ = ["browser", "page", "pages_stack"]
