-- The progress message's last text as its pattern and values (bot/domain/text.py dump): a text owed after a
-- restart is shown in the server's language, not in the English kept beside it in final_text.
ALTER TABLE jobs ADD COLUMN final_pattern TEXT;
