pub struct Mbox;
pub struct MboxFolder;
pub struct MboxMessage;
pub enum Variant {}
