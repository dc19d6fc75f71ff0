"""DynamoDB: the tables a template declares, the engine that holds them, and the API the emulator calls.

`api.py` is the one interface the rest of the emulator uses (the AMAZON_DYNAMODB data source,
stream pollers): `DynamoDBApi.call(operation, body)` speaks DynamoDB's JSON protocol, whatever
answers it (the embedded engine, DynamoDB Local, LocalStack, a real account).
"""
