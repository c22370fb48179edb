"""The loyalty card in Apple Wallet and Google Wallet: a second home for the chat's card,
kept up to date through the outbox. One module per concern: the long-lived barcode
(barcode.py), the Card screen's signed links (links.py), what the card shows (face.py), the
Apple pass and its signature (apple_pass.py), Apple's pass web service (apple_service.py)
and push (apple_push.py), the Google loyalty object and save link (google.py), the pages the
links open (downloads.py), the update on a change and the renewal of idle cards
(updates.py), the default pictures (images.py); setup.py builds them from the config and
routes.py puts their routes on the app.
"""
