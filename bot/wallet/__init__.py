"""The loyalty card in Apple Wallet and Google Wallet: a second home for the chat's card,
kept up to date through the outbox. One module per concern: the barcode (barcode.py), the
links of the Card screen (links.py), what the card shows (face.py), the Apple pass
(apple_pass.py), its web service (apple_service.py) and push (apple_push.py), the Google
loyalty object and save link (google.py), the download pages (downloads.py) and the update
on a change (updates.py); setup.py builds them from the config."""
