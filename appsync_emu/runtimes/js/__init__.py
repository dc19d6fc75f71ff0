"""The APPSYNC_JS runtime: resolver modules run in quickjs-ng with an `@aws-appsync/utils` prelude.

`lint.lint_modules` (deploy-time warnings) is imported by `validate` only, not at server start.
"""

from .runtime import JS_RUNTIME_ERROR_TYPE, JsRuntime, check_modules

__all__ = ["JS_RUNTIME_ERROR_TYPE", "JsRuntime", "check_modules"]
