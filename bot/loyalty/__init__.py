"""The loyalty program itself: cards, the points ledger, checkout, tiers, the rules in force."""
