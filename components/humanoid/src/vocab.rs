//! Free text to motion: the words the model knows, and what each one sets.

/// What one segment asks for, before blending with its neighbours.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    /// Travel speed in m/s when no root path dictates one.
    pub speed: f64,
    /// Direction of travel relative to the facing: 0 forward, pi backward,
    /// +pi/2 to the character's left.
    pub travel_dir: f64,
    /// Total turn over the segment, radians (positive turns left).
    pub turn: f64,
    /// Knees bent: pelvis lowered by this fraction of the leg length.
    pub crouch: f64,
    /// Sitting: 0 standing, 1 seated; `sit_to` is where it ends.
    pub sit_from: f64,
    pub sit_to: f64,
    /// +1 bouncy and upright, -1 slumped and heavy.
    pub energy: f64,
    pub arm_swing: f64,
    pub wave: [f64; 2],
    pub point: f64,
    pub clap: f64,
    pub jump: f64,
    pub hop: f64,
    pub kick: f64,
    /// Words understood, for the note.
    pub understood: Vec<&'static str>,
}

impl Default for Intent {
    fn default() -> Self {
        Intent {
            speed: 0.0,
            travel_dir: 0.0,
            turn: 0.0,
            crouch: 0.0,
            sit_from: 0.0,
            sit_to: 0.0,
            energy: 0.0,
            arm_swing: 1.0,
            wave: [0.0; 2],
            point: 0.0,
            clap: 0.0,
            jump: 0.0,
            hop: 0.0,
            kick: 0.0,
            understood: Vec::new(),
        }
    }
}

/// Speeds of the gaits, m/s.
pub const WALK: f64 = 1.3;
pub const JOG: f64 = 2.6;
pub const RUN: f64 = 3.8;
pub const SPRINT: f64 = 6.0;

fn has(words: &[String], any: &[&str]) -> bool {
    words.iter().any(|w| any.iter().any(|a| w == a))
}

fn phrase(text: &str, any: &[&str]) -> bool {
    any.iter().any(|a| text.contains(a))
}

/// Reads a prompt. Unknown words are ignored; an empty `understood` means
/// nothing was recognised and the intent is a neutral stance.
pub fn parse(prompt: &str) -> Intent {
    let text = prompt.to_lowercase();
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('-').to_string())
        .collect();
    let mut i = Intent::default();
    let stem = |ws: &[&str]| words.iter().any(|w| ws.iter().any(|s| w.starts_with(s)));
    let left = has(&words, &["left"]);
    let right = has(&words, &["right"]);

    // Locomotion, fastest word wins.
    if stem(&["sprint", "dash"]) {
        i.speed = SPRINT;
        i.understood.push("sprint");
    } else if has(&words, &["run", "runs", "running", "ran", "race", "racing"]) {
        i.speed = RUN;
        i.understood.push("run");
    } else if stem(&["jog", "trot"]) {
        i.speed = JOG;
        i.understood.push("jog");
    } else if stem(&["sneak", "tiptoe", "creep", "stalk", "stealth"]) {
        i.speed = 0.7;
        i.crouch = 0.18;
        i.arm_swing = 0.4;
        i.understood.push("sneak");
    } else if stem(&[
        "walk", "stroll", "march", "stride", "strut", "step", "pace", "wander", "move",
    ]) || has(&words, &["go", "goes"])
        || phrase(
            &text,
            &[
                "side step",
                "side-step",
                "sidestep",
                "strafe",
                "shuffle",
                "back up",
                "backward",
            ],
        )
    {
        i.speed = WALK;
        i.understood.push("walk");
    }
    if stem(&["backward", "backwards", "reverse"])
        || phrase(&text, &["back up", "walk back", "step back", "moonwalk"])
    {
        i.travel_dir = std::f64::consts::PI;
        i.speed = i.speed.clamp(0.9, 2.5);
        i.understood.push("backwards");
    } else if phrase(
        &text,
        &[
            "side step",
            "side-step",
            "sidestep",
            "strafe",
            "sideways",
            "shuffle",
        ],
    ) {
        i.travel_dir = if right { -1.0 } else { 1.0 } * std::f64::consts::FRAC_PI_2;
        i.speed = i.speed.clamp(0.5, 0.8);
        i.understood.push(if right {
            "side-step right"
        } else {
            "side-step left"
        });
    }
    if stem(&["turn", "rotate", "spin", "pivot"]) {
        let amount = if has(&words, &["around", "round", "back"]) || stem(&["spin"]) {
            std::f64::consts::PI
        } else {
            std::f64::consts::FRAC_PI_2
        };
        i.turn = if right && !left { -amount } else { amount };
        i.understood.push(if right && !left {
            "turn right"
        } else {
            "turn left"
        });
    }

    // Whole-body actions.
    if stem(&["jump", "leap"]) {
        i.jump = 1.0;
        i.understood.push("jump");
    } else if stem(&["hop", "skip", "bounce"]) {
        i.hop = 1.0;
        i.understood.push("hop");
    }
    if stem(&["kick"]) {
        i.kick = 1.0;
        i.understood.push("kick");
    }
    let stand_up = phrase(
        &text,
        &[
            "stand up",
            "stands up",
            "standing up",
            "get up",
            "gets up",
            "rise",
            "rising",
        ],
    );
    if stand_up {
        i.sit_from = 1.0;
        i.sit_to = 0.0;
        i.understood.push("stand up");
    } else if stem(&["sit", "seated"]) {
        i.sit_from = if phrase(
            &text,
            &["sit down", "sits down", "sitting down", "take a seat"],
        ) {
            0.0
        } else {
            0.8
        };
        i.sit_to = 1.0;
        i.understood.push("sit down");
    } else if stem(&["crouch", "squat", "duck", "kneel", "cower", "hide"]) {
        i.crouch = i.crouch.max(0.45);
        i.understood.push("crouch");
    }

    // Gestures.
    if stem(&["wave", "waving", "greet", "hello", "bye", "goodbye"]) || has(&words, &["hi"]) {
        i.wave = if phrase(&text, &["both"]) {
            [1.0, 1.0]
        } else if left && !right {
            [1.0, 0.0]
        } else {
            [0.0, 1.0]
        };
        i.understood.push("wave");
    }
    if stem(&["point"]) {
        i.point = 1.0;
        i.understood.push("point");
    }
    if stem(&["clap", "applau"]) {
        i.clap = 1.0;
        i.understood.push("clap");
    }

    // Modifiers.
    if stem(&["slow", "leisure", "lazy", "careful", "gentl"]) {
        i.speed *= 0.6;
        i.understood.push("slow");
    }
    if stem(&["fast", "quick", "brisk", "hurr", "rapid"]) {
        i.speed = if i.speed == 0.0 { 0.0 } else { i.speed * 1.4 };
        i.understood.push("fast");
    }
    if stem(&[
        "happy", "cheer", "joy", "excit", "energ", "proud", "confiden",
    ]) {
        i.energy = 1.0;
        i.arm_swing *= 1.3;
        i.understood.push("happy");
    }
    if stem(&[
        "tired", "sad", "exhaust", "weary", "sleepy", "depress", "old", "limp", "drunk",
    ]) {
        i.energy = -1.0;
        i.speed *= 0.75;
        i.arm_swing *= 0.5;
        i.understood.push("tired");
    }
    if i.understood.is_empty()
        && stem(&[
            "idle", "stand", "wait", "breath", "still", "rest", "look", "nothing",
        ])
    {
        i.understood.push("idle");
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_set_what_they_name() {
        assert_eq!(parse("walk").speed, WALK);
        assert!(parse("A person runs fast").speed > RUN);
        assert!(parse("slowly walking").speed < WALK);
        assert_eq!(parse("walk backwards").travel_dir, std::f64::consts::PI);
        assert!(parse("side step to the right").travel_dir < 0.0);
        assert!(parse("turn left").turn > 0.0 && parse("turn right").turn < 0.0);
        assert_eq!(parse("jump").jump, 1.0);
        assert_eq!(parse("sit down").sit_to, 1.0);
        assert_eq!(parse("stand up").sit_from, 1.0);
        assert_eq!(parse("wave hello").wave, [0.0, 1.0]);
        assert!(parse("sneak").crouch > 0.0);
        assert_eq!(parse("tired walk").energy, -1.0);
        assert_eq!(parse("idle").understood, ["idle"]);
        assert!(parse("contemplate the void").understood.is_empty());
    }
}
