"""Running users' Python Lambda functions in worker processes (`service.LambdaService`).

Nothing is imported here: `worker` runs in every function process and must start fast.
"""
