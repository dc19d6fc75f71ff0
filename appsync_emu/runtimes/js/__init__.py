"""The APPSYNC_JS runtime: resolver modules run in quickjs-ng with an `@aws-appsync/utils` prelude."""

from .lint import lint_modules
from .runtime import JS_RUNTIME_ERROR_TYPE, JsRuntime, check_modules

__all__ = ["JS_RUNTIME_ERROR_TYPE", "JsRuntime", "check_modules", "lint_modules"]
