//! The fixed words of a family summary, per language: headings, what is said when
//! there is nothing to say, how a family can help in each domain, and a plan's
//! progress. Plain words, no jargon ("tier", rule ids, thresholds never appear).
//! English and Spanish are built in; a rule's own `family:` text supplies the rest.

use crate::rules::Domain;

/// The languages a summary can be written in.
pub const LANGUAGES: [&str; 2] = ["en", "es"];

/// The fixed words of one language.
pub struct Words {
    pub title: &'static str,
    pub about: &'static str,
    pub strengths: &'static str,
    pub no_strengths: &'static str,
    pub noticed: &'static str,
    pub nothing_noticed: &'static str,
    pub will_do: &'static str,
    pub plans: &'static str,
    pub help: &'static str,
    pub contact: &'static str,
    pub contact_default: &'static str,
    pub footer: &'static str,
}

pub fn words(lang: &str) -> &'static Words {
    if lang == "es" { &ES } else { &EN }
}

static EN: Words = Words {
    title: "A note from school about your child",
    about: "Student",
    strengths: "What your child does well",
    no_strengths: "The school team is getting to know your child's strengths and will share them with you.",
    noticed: "What the school noticed",
    nothing_noticed: "Nothing in your child's recent school information calls for extra support right now.",
    will_do: "What the school will do",
    plans: "Your child's goals",
    help: "How you can help at home",
    contact: "Who to contact",
    contact_default: "Your child's school counselor",
    footer: "The school team looks at every concern before acting on it. Please reach out with any question; you know your child best.",
};

static ES: Words = Words {
    title: "Una nota de la escuela sobre su hijo o hija",
    about: "Estudiante",
    strengths: "Lo que su hijo o hija hace bien",
    no_strengths: "El equipo de la escuela está conociendo las fortalezas de su hijo o hija y las compartirá con ustedes.",
    noticed: "Lo que notó la escuela",
    nothing_noticed: "Nada en la información escolar reciente de su hijo o hija requiere apoyo adicional en este momento.",
    will_do: "Lo que hará la escuela",
    plans: "Las metas de su hijo o hija",
    help: "Cómo pueden ayudar en casa",
    contact: "A quién contactar",
    contact_default: "El consejero o la consejera escolar de su hijo o hija",
    footer: "El equipo de la escuela revisa cada situación antes de actuar. Comuníquense con nosotros con cualquier pregunta; ustedes conocen mejor que nadie a su hijo o hija.",
};

/// What the school noticed in `domain`, when the rule has no family text in `lang`.
pub fn noticed_in(domain: Domain, lang: &str) -> &'static str {
    match (lang, domain) {
        ("es", Domain::Attendance) => {
            "La escuela notó algo sobre la asistencia de su hijo o hija y quiere hablarlo con ustedes."
        }
        ("es", Domain::Academic) => {
            "La escuela notó algo sobre el trabajo escolar de su hijo o hija y quiere hablarlo con ustedes."
        }
        ("es", Domain::Behavioral) => {
            "La escuela notó algo sobre la conducta de su hijo o hija y quiere hablarlo con ustedes."
        }
        ("es", Domain::SocialEmotional) => {
            "La escuela notó algo sobre cómo se siente su hijo o hija en la escuela y quiere hablarlo con ustedes."
        }
        (_, Domain::Attendance) => {
            "The school noticed something about your child's attendance and would like to talk with you about it."
        }
        (_, Domain::Academic) => {
            "The school noticed something about your child's schoolwork and would like to talk with you about it."
        }
        (_, Domain::Behavioral) => {
            "The school noticed something about your child's behavior and would like to talk with you about it."
        }
        (_, Domain::SocialEmotional) => {
            "The school noticed something about how your child is feeling at school and would like to talk with you about it."
        }
    }
}

/// How a family can help in `domain`.
pub fn help_in(domain: Domain, lang: &str) -> &'static str {
    match (lang, domain) {
        ("es", Domain::Attendance) => {
            "Ayuden a que su hijo o hija llegue a la escuela todos los días y a tiempo, y avísennos si algo lo impide."
        }
        ("es", Domain::Academic) => {
            "Pregúntenle cada día qué aprendió, busquen un momento tranquilo para las tareas y léanle o lean con él o ella."
        }
        ("es", Domain::Behavioral) => {
            "Hablen con su hijo o hija sobre su día, feliciten lo que hace bien y avísennos si algo le preocupa."
        }
        ("es", Domain::SocialEmotional) => {
            "Escuchen a su hijo o hija, ayúdenle a nombrar lo que siente y avísennos si notan cambios en casa."
        }
        (_, Domain::Attendance) => {
            "Help your child get to school every day and on time, and let us know if something gets in the way."
        }
        (_, Domain::Academic) => {
            "Ask your child each day what they learned, set a quiet time for homework, and read together."
        }
        (_, Domain::Behavioral) => {
            "Talk with your child about their day, praise what goes well, and tell us if something worries you."
        }
        (_, Domain::SocialEmotional) => {
            "Listen to your child, help them name their feelings, and tell us if you notice changes at home."
        }
    }
}

/// A plan's goal and progress in words: `measure` is the goal's measure as a family
/// reads it, numbers already formatted.
pub fn plan_goal(lang: &str, measure: &str, target: &str, by: &str, baseline: &str) -> String {
    if lang == "es" {
        format!(
            "La meta es llegar a {target} en {measure} para el {by} (al empezar era {baseline})."
        )
    } else {
        format!(
            "The goal is to reach {target} in {measure} by {by} (it was {baseline} at the start)."
        )
    }
}

/// Where the plan stands.
pub fn plan_progress(lang: &str, latest: Option<(&str, &str)>, on_track: Option<bool>) -> String {
    let latest = match (lang, latest) {
        ("es", Some((v, d))) => format!("El resultado más reciente es {v} ({d}). "),
        (_, Some((v, d))) => format!("The latest result is {v} ({d}). "),
        _ => String::new(),
    };
    let standing = match (lang, on_track) {
        ("es", Some(true)) => "Va bien encaminado hacia la meta.",
        ("es", Some(false)) => "Todavía no va al ritmo de la meta; el equipo lo sigue de cerca.",
        ("es", None) => "Todavía hay pocos resultados para ver la tendencia.",
        (_, Some(true)) => "Your child is on track to meet the goal.",
        (_, Some(false)) => {
            "Your child is not yet on pace for the goal; the team is watching closely."
        }
        (_, None) => "There are not enough results yet to see a trend.",
    };
    format!("{latest}{standing}")
}
