"""AppSync's and Lambda's limits, each with the AWS figure as default and where it applies.

Every number the emulator enforces lives here so that a setting can change it and a
reader can check it against AWS's quota tables (docs/APPSYNC.md §0 and §8).
"""

from __future__ import annotations

# --- GraphQL requests ----------------------------------------------------------------
#: Whole-request execution budget (query, mutation, subscription registration). AppSync: 30 s.
REQUEST_EXECUTION_TIMEOUT_S = 30.0
#: Time a client has to send a whole request (headers and body) from connecting or from its
#: first byte; past it, a 408 and the connection closed. AppSync's front end does the same at
#: some figure it does not publish; ours bounds a half-sent request (docs/SECURITY.md).
REQUEST_READ_TIMEOUT_S = 30.0
#: Largest HTTP body we accept. AppSync documents none; the Amplify simulator uses 10 MB.
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
#: Resolvers executed per request. AppSync: 10,000.
MAX_RESOLVERS_PER_REQUEST = 10_000
#: Functions in one pipeline resolver. AppSync: 10.
MAX_PIPELINE_FUNCTIONS = 10
#: Parsed-and-validated documents kept in memory (not an AppSync limit: our cache size) ...
DOCUMENT_CACHE_SIZE = 1024
#: ... and the query text they may hold together; a longer query is served but not kept.
DOCUMENT_CACHE_BYTES = 8 * 1024 * 1024
DOCUMENT_CACHE_MAX_QUERY_BYTES = 256 * 1024

# --- What one request may ask of the parser and validator (ours: AppSync publishes none) ---
# Chosen so that parsing and validating any accepted document costs at most ~50 ms of CPU
# (docs/RELIABILITY.md); real clients' documents are far below them.
#: Query text of one request.
MAX_QUERY_BYTES = 1024 * 1024
#: Lexical tokens of one document (graphql-core stops parsing past it).
MAX_QUERY_TOKENS = 5_000
#: Aliased fields, directives and variable definitions in one document.
MAX_QUERY_ALIASES = 500
MAX_QUERY_DIRECTIVES = 200
MAX_QUERY_VARIABLES = 200
#: Selection-set nesting of one document (AppSync's own `QueryDepthLimit` goes up to 75).
MAX_QUERY_DEPTH = 100
#: Pairs of fields with the same response name (`{ a a a }` has 3): graphql-core compares each
#: pair to check they can merge, so `{ hello hello ... }` costs quadratic time (500 copies, 36 ms).
MAX_QUERY_SAME_NAME_PAIRS = 125_000
#: Fragment definitions, and pairs of distinct fragments spread in one selection set (graphql-core
#: compares each such pair: 100 fragments spread side by side cost 24 ms, in 20 places 99 ms).
MAX_QUERY_FRAGMENTS = 100
MAX_QUERY_SPREAD_PAIRS = 5_000
#: Nesting of the request's JSON (the body, `variables`).
MAX_JSON_DEPTH = 64

# --- Real-time (WebSocket) ------------------------------------------------------------
#: Subscriptions per WebSocket connection. AppSync: 100.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 100
#: One published message larger than this is not delivered (the mutation still succeeds). AppSync: 240 KB.
MAX_SUBSCRIPTION_PAYLOAD_BYTES = 240 * 1024
#: `connectionTimeoutMs` announced in `connection_ack`. AppSync: 300000.
CONNECTION_TIMEOUT_MS = 300_000
#: Interval between `ka` frames. AppSync sends one about every 60 s.
KEEP_ALIVE_INTERVAL_S = 60.0
#: WebSocket connection lifetime. AppSync: 24 h.
CONNECTION_LIFETIME_S = 24 * 3600.0
#: Frames, and bytes of frames, waiting for one slow subscriber before we drop its connection (our
#: policy, not AppSync's: it drops slow subscribers without saying when).
MAX_PENDING_FRAMES_PER_CONNECTION = 10_000
MAX_PENDING_BYTES_PER_CONNECTION = 16 * 1024 * 1024
#: A subscriber whose socket takes nothing for this long (its buffers full) is dropped.
SUBSCRIBER_STALL_TIMEOUT_S = 30.0

# --- Resolver code --------------------------------------------------------------------
#: CPU time one APPSYNC_JS handler call may use (AppSync does not publish a figure).
JS_HANDLER_CPU_LIMIT_S = 5.0
#: Heap of one APPSYNC_JS runtime.
JS_MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
#: Native stack of one APPSYNC_JS runtime.
JS_MAX_STACK_BYTES = 1024 * 1024

# --- Lambda -----------------------------------------------------------------------------
#: Payload limit of a synchronous (RequestResponse) invocation. Lambda: 6 MB.
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
#: Payload limit of an asynchronous (Event) invocation. Lambda: 1 MB since Oct 2025 (256 KB before).
LAMBDA_ASYNC_PAYLOAD_BYTES = 1024 * 1024
#: Function timeout when the template gives none. Lambda: 3 s.
LAMBDA_DEFAULT_TIMEOUT_S = 3.0
#: Function memory when the template gives none. Lambda: 128 MB.
LAMBDA_DEFAULT_MEMORY_MB = 128
#: Retries after a function error in an async invocation. Lambda: 2 (range 0-2).
LAMBDA_DEFAULT_MAX_RETRY_ATTEMPTS = 2
#: Maximum age of an async event. Lambda: 21600 s (range 60-21600).
LAMBDA_DEFAULT_MAX_EVENT_AGE_S = 21_600
#: Delays before the first and second retry of an async event. Lambda: about 1 and 2 minutes.
LAMBDA_RETRY_DELAYS_S = (60.0, 120.0)
#: Backoff for throttled async events (not counted as retries). Lambda: 1 s doubling to 5 min.
LAMBDA_THROTTLE_BACKOFF_S = (1.0, 300.0)
#: Concurrent executions per function when the template sets no reserved concurrency.
#: Lambda's account default is 1000; a laptop is not, so we cap each function's worker pool.
LAMBDA_DEFAULT_CONCURRENCY = 64
#: BatchInvoke batch size. AppSync: 0-2000.
LAMBDA_MAX_BATCH_SIZE = 2000
#: How long AppSync waits for a Lambda authorizer. AppSync: 10 s.
LAMBDA_AUTHORIZER_TIMEOUT_S = 10.0
#: Longest an authorizer's answer is cached (AuthorizerResultTtlInSeconds, ttlOverride). AppSync: 3600 s.
LAMBDA_AUTHORIZER_MAX_TTL_S = 3600
#: Authorizer answers kept at once (not an AppSync limit: our cache size; the oldest go first).
LAMBDA_AUTHORIZER_CACHE_ENTRIES = 10_000

# --- DynamoDB Streams event source mappings (Lambda's stream rules) ----------------------
#: Records per batch when the mapping sets no BatchSize. Lambda: 100 (range 1-10,000).
STREAM_DEFAULT_BATCH_SIZE = 100
STREAM_MAX_BATCH_SIZE = 10_000
#: MaximumBatchingWindowInSeconds range. Lambda: 0-300.
STREAM_MAX_BATCHING_WINDOW_S = 300
#: MaximumRetryAttempts range. Lambda: -1 (infinite, the default) to 10,000.
STREAM_MAX_RETRY_ATTEMPTS = 10_000
#: MaximumRecordAgeInSeconds range. Lambda: -1 (infinite, the default) or 60-604,800.
STREAM_MIN_RECORD_AGE_S = 60
STREAM_MAX_RECORD_AGE_S = 604_800
#: How often an idle shard is read. Lambda: 4 times a second per shard.
STREAM_POLL_INTERVAL_S = 0.25
#: Records one GetRecords call returns at most. DynamoDB Streams: 1,000.
STREAM_GET_RECORDS_LIMIT = 1000

# --- Bedrock ----------------------------------------------------------------------------
#: A synchronous Bedrock runtime data source call must finish within 10 s.
BEDROCK_DATASOURCE_TIMEOUT_S = 10.0
